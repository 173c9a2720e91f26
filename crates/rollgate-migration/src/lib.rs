//! The migration file model.
