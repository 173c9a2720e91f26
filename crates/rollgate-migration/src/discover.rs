//! Finding migration files on disk: by glob (`discover`) or from explicit
//! command-line paths (`expand_paths`).
//!
//! This is one of the two places in the crate that does I/O (with
//! `file::load`). It only lists and orders files; it does not read them.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use walkdir::WalkDir;

use crate::name::{ChangeType, parse_file_name};
use crate::version::Version;

/// Where migrations live unless the user says otherwise.
pub const DEFAULT_PATTERN: &str = "migrations/**/*.sql";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Versioned files by version, then (from `expand_paths` only)
    /// unversioned files in argument order.
    pub files: Vec<DiscoveredFile>,
    pub warnings: Vec<DiscoveryWarning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredFile {
    /// The path to open.
    pub path: PathBuf,
    /// The path to show: relative to the base (or as given), `/` separated.
    pub display: String,
    /// Always `Some` from `discover`; `None` only for a file named explicitly
    /// to `expand_paths` whose name has no version prefix.
    pub version: Option<Version>,
    pub change_type: ChangeType,
}

/// Something skipped during discovery that the user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryWarning {
    Unversioned {
        path: String,
    },
    SymlinkLoop {
        path: String,
    },
    BrokenSymlink {
        path: String,
    },
    /// A directory given to `expand_paths` that holds no `.sql` file.
    NoSqlFiles {
        path: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error(
        "invalid file pattern `{pattern}`: {message}; fix the --file-pattern value, e.g. `{DEFAULT_PATTERN}`"
    )]
    BadPattern { pattern: String, message: String },
    /// `base` is the directory that was searched: the base joined with the
    /// pattern's literal prefix.
    #[error(
        "no files match `{pattern}` (searched {}); check that the migrations are there, \
         or pass --file-pattern to say where they are",
        .base.display()
    )]
    NoMatch { pattern: String, base: PathBuf },
    #[error(
        "two migrations have version {version}: {first} and {second}; rename one so every version is unique"
    )]
    DuplicateVersion {
        version: Version,
        first: String,
        second: String,
    },
    #[error("cannot read {}: {source}; check that it exists and is readable", .path.display())]
    Walk { path: PathBuf, source: io::Error },
    #[error("{} does not exist; check the path (it is relative to the current directory)", .path.display())]
    Missing { path: PathBuf },
}

impl fmt::Display for DiscoveryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryWarning::Unversioned { path } => {
                let name = path.rsplit('/').next().unwrap_or(path);
                write!(
                    f,
                    "{path} has no version prefix; skipped. Rename it to e.g. 202501011200_{name}"
                )
            }
            DiscoveryWarning::SymlinkLoop { path } => write!(
                f,
                "{path} is a symbolic link to one of its own parent directories; skipped to avoid an endless loop. \
                 Remove the link if it is not needed"
            ),
            DiscoveryWarning::BrokenSymlink { path } => {
                write!(
                    f,
                    "{path} is a symbolic link to a missing file; skipped. Fix or remove the link"
                )
            }
            DiscoveryWarning::NoSqlFiles { path } => {
                write!(
                    f,
                    "{path} contains no .sql files; nothing to review there. Check the path"
                )
            }
        }
    }
}

/// Finds the files under `base` matching `pattern` (globset syntax, `/`
/// separated; `*` stays within one directory, `**/` spans zero or more).
/// Only the pattern's literal leading directories are walked, so
/// `migrations/**/*.sql` never scans the rest of the project. An absolute
/// pattern ignores `base` for matching.
pub fn discover(base: &Path, pattern: &str) -> Result<Discovery, DiscoverError> {
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    // `./migrations/*.sql` would never match because candidates are
    // compared without a leading `./`.
    let mut glob_text = pattern;
    while let Some(rest) = glob_text.strip_prefix("./") {
        glob_text = rest;
    }
    let matcher = GlobBuilder::new(glob_text)
        .literal_separator(true)
        .build()
        .map_err(|error| DiscoverError::BadPattern {
            pattern: pattern.to_string(),
            message: error.kind().to_string(),
        })?
        .compile_matcher();
    let absolute = Path::new(glob_text).is_absolute();
    let root = base.join(literal_prefix(glob_text));
    let no_match = || DiscoverError::NoMatch {
        pattern: pattern.to_string(),
        base: root.clone(),
    };

    match std::fs::metadata(&root) {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(no_match()),
        Err(source) => return Err(DiscoverError::Walk { path: root, source }),
    }
    // Relative patterns match paths relative to `base`; absolute ones match
    // the full path. Walk entries always start with `root`, which starts with
    // `base`, so stripping cannot fail for relative patterns.
    let candidate = |path: &Path| -> PathBuf {
        if absolute {
            path.to_path_buf()
        } else {
            path.strip_prefix(base).unwrap_or(path).to_path_buf()
        }
    };
    let mut warnings = Vec::new();
    let wanted = |path: &Path| matcher.is_match(candidate(path));
    let paths = walk_files(&root, base, &wanted, &mut warnings)?;
    if paths.is_empty() {
        return Err(no_match());
    }
    let mut files = Vec::new();
    for path in paths {
        let display = display_relative(base, &path);
        match parse_file_name(&file_name(&path)) {
            Some(parsed) => files.push(DiscoveredFile {
                path,
                display,
                version: Some(parsed.version),
                change_type: parsed.change_type,
            }),
            None => warnings.push(DiscoveryWarning::Unversioned { path: display }),
        }
    }
    sorted(files, warnings)
}

/// Turns explicit command-line paths into migration files. A file is taken
/// as is, even without a version; a directory contributes every `.sql` file
/// below it, skipping unversioned ones with a warning. A file reached twice
/// (say, as itself and through its directory) is listed once.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Discovery, DiscoverError> {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    let mut first_visit = |path: &Path| {
        seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    };

    for given in paths {
        let metadata = std::fs::metadata(given).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => DiscoverError::Missing {
                path: given.clone(),
            },
            _ => DiscoverError::Walk {
                path: given.clone(),
                source,
            },
        })?;
        if !metadata.is_dir() {
            if first_visit(given) {
                let parsed = parse_file_name(&file_name(given));
                files.push(DiscoveredFile {
                    path: given.clone(),
                    display: display_path(given),
                    change_type: parsed
                        .as_ref()
                        .map_or(ChangeType::Ddl, |parsed| parsed.change_type),
                    version: parsed.map(|parsed| parsed.version),
                });
            }
            continue;
        }
        // Explicit paths are shown as given, so nothing is stripped.
        let found = walk_files(given, Path::new(""), &has_sql_extension, &mut warnings)?;
        if found.is_empty() {
            warnings.push(DiscoveryWarning::NoSqlFiles {
                path: display_path(given),
            });
        }
        for path in found {
            if !first_visit(&path) {
                continue;
            }
            let display = display_path(&path);
            match parse_file_name(&file_name(&path)) {
                Some(parsed) => files.push(DiscoveredFile {
                    path,
                    display,
                    version: Some(parsed.version),
                    change_type: parsed.change_type,
                }),
                None => warnings.push(DiscoveryWarning::Unversioned { path: display }),
            }
        }
    }
    sorted(files, warnings)
}

/// Sorts versioned files by version ahead of unversioned ones (the sort is
/// stable, so ties keep walk or argument order) and rejects equal versions.
fn sorted(
    mut files: Vec<DiscoveredFile>,
    warnings: Vec<DiscoveryWarning>,
) -> Result<Discovery, DiscoverError> {
    files.sort_by(|left, right| match (&left.version, &right.version) {
        (Some(left), Some(right)) => left.cmp(right),
        (left, right) => left.is_none().cmp(&right.is_none()),
    });
    for pair in files.windows(2) {
        if let (Some(first), Some(second)) = (&pair[0].version, &pair[1].version)
            && first == second
        {
            return Err(DiscoverError::DuplicateVersion {
                version: first.clone(),
                first: pair[0].display.clone(),
                second: pair[1].display.clone(),
            });
        }
    }
    Ok(Discovery { files, warnings })
}

/// Lists the files under `root` (sorted by name, following symbolic links)
/// for which `wanted` holds; warnings show paths relative to `display_base`.
/// Symlink loops and broken links are skipped with
/// a warning rather than failing the whole run; the latter are common as
/// editor lock files (Emacs's `.#name.sql`).
fn walk_files(
    root: &Path,
    display_base: &Path,
    wanted: &dyn Fn(&Path) -> bool,
    warnings: &mut Vec<DiscoveryWarning>,
) -> Result<Vec<PathBuf>, DiscoverError> {
    let mut files = Vec::new();
    for entry in WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let error = match entry {
            Ok(entry) => {
                if entry.file_type().is_file() && wanted(entry.path()) {
                    files.push(entry.into_path());
                }
                continue;
            }
            Err(error) => error,
        };
        let path = error.path().unwrap_or(root).to_path_buf();
        let is_dangling = error.depth() > 0
            && error
                .io_error()
                .is_some_and(|io| io.kind() == io::ErrorKind::NotFound)
            && path
                .symlink_metadata()
                .is_ok_and(|metadata| metadata.file_type().is_symlink());
        if error.loop_ancestor().is_some() {
            warnings.push(DiscoveryWarning::SymlinkLoop {
                path: display_relative(display_base, &path),
            });
        } else if is_dangling {
            if wanted(&path) {
                warnings.push(DiscoveryWarning::BrokenSymlink {
                    path: display_relative(display_base, &path),
                });
            }
        } else {
            let source = error
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("cannot walk the directory"));
            return Err(DiscoverError::Walk { path, source });
        }
    }
    Ok(files)
}

/// The leading directories of a pattern that contain no glob syntax. The last
/// component is left out because it names files, even when it is literal.
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut prefix = PathBuf::new();
    if pattern.starts_with('/') {
        prefix.push("/");
    }
    let mut components: Vec<&str> = pattern.split('/').collect();
    components.pop();
    for component in components {
        if component.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            break;
        }
        if !component.is_empty() {
            prefix.push(component);
        }
    }
    prefix
}

fn has_sql_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("sql"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn display_relative(base: &Path, path: &Path) -> String {
    display_path(path.strip_prefix(base).unwrap_or(path))
}

fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        text.into_owned()
    } else {
        text.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp directory holding empty files at the given relative paths.
    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    /// Renders a discovery as `display@version` lines then warnings, or the
    /// error message, with the temp dir replaced by `<tmp>`.
    fn render(dir: &Path, result: Result<Discovery, DiscoverError>) -> String {
        let text = match result {
            Ok(discovery) => {
                let mut lines: Vec<String> = discovery
                    .files
                    .iter()
                    .map(|file| {
                        let version = file
                            .version
                            .as_ref()
                            .map_or("-".to_string(), Version::to_string);
                        format!("{}@{version} {}", file.display, file.change_type)
                    })
                    .collect();
                lines.extend(
                    discovery
                        .warnings
                        .iter()
                        .map(|warning| format!("warning: {warning}")),
                );
                lines.join("\n")
            }
            Err(error) => format!("error: {error}"),
        };
        text.replace(&dir.display().to_string(), "<tmp>")
    }

    fn check_discover(files: &[&str], pattern: &str, expected: &str) {
        let dir = tree(files);
        assert_eq!(
            render(dir.path(), discover(dir.path(), pattern)),
            expected.trim()
        );
    }

    #[test]
    fn default_pattern_matches_top_level_and_nested_files_by_version() {
        check_discover(
            &[
                "migrations/2_b_dml.sql",
                "migrations/sub/deeper/10_c.sql",
                "migrations/1_a.sql",
                "other/0_x.sql",
            ],
            DEFAULT_PATTERN,
            "migrations/1_a.sql@1 DDL\nmigrations/2_b_dml.sql@2 DML\nmigrations/sub/deeper/10_c.sql@10 DDL",
        );
    }

    #[test]
    fn single_star_stays_in_one_directory() {
        check_discover(
            &["db/1_a.sql", "db/nested/2_b.sql"],
            "./db/*.sql",
            "db/1_a.sql@1 DDL",
        );
        check_discover(&["1_a.sql", "x/2_b.sql"], "*.sql", "1_a.sql@1 DDL");
    }

    #[test]
    fn unversioned_files_are_skipped_with_a_warning() {
        check_discover(
            &["migrations/1_a.sql", "migrations/README.sql"],
            DEFAULT_PATTERN,
            "migrations/1_a.sql@1 DDL\n\
             warning: migrations/README.sql has no version prefix; skipped. Rename it to e.g. 202501011200_README.sql",
        );
    }

    #[test]
    fn duplicate_versions_name_both_files() {
        check_discover(
            &["migrations/0001_a.sql", "migrations/1_b.sql"],
            DEFAULT_PATTERN,
            "error: two migrations have version 0001: migrations/0001_a.sql and migrations/1_b.sql; \
             rename one so every version is unique",
        );
    }

    #[test]
    fn no_match_names_the_searched_directory() {
        let suggestion =
            "check that the migrations are there, or pass --file-pattern to say where they are";
        check_discover(
            &["migrations/notes.txt"],
            DEFAULT_PATTERN,
            &format!(
                "error: no files match `{DEFAULT_PATTERN}` (searched <tmp>/migrations); {suggestion}"
            ),
        );
        check_discover(
            &[],
            "db/**/*.sql",
            &format!("error: no files match `db/**/*.sql` (searched <tmp>/db); {suggestion}"),
        );
    }

    #[test]
    fn bad_pattern() {
        check_discover(
            &[],
            "migrations/[a.sql",
            "error: invalid file pattern `migrations/[a.sql`: unclosed character class; missing ']'; \
             fix the --file-pattern value, e.g. `migrations/**/*.sql`",
        );
    }

    #[test]
    fn absolute_pattern() {
        let dir = tree(&["m/1_a.sql"]);
        let pattern = format!("{}/m/*.sql", dir.path().display());
        let discovery = discover(Path::new("."), &pattern).unwrap();
        assert_eq!(discovery.files.len(), 1);
        assert_eq!(
            discovery.files[0].display,
            format!("{}/m/1_a.sql", dir.path().display())
        );
        // With the base being the temp dir, the display is relative again.
        assert_eq!(
            render(dir.path(), discover(dir.path(), &pattern)),
            "m/1_a.sql@1 DDL"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_broken_links_are_skipped() {
        let dir = tree(&["migrations/1_a.sql"]);
        std::os::unix::fs::symlink(
            dir.path().join("migrations"),
            dir.path().join("migrations/loop"),
        )
        .unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("migrations/.#1_a.sql")).unwrap();
        assert_eq!(
            render(dir.path(), discover(dir.path(), DEFAULT_PATTERN)),
            "migrations/1_a.sql@1 DDL\n\
             warning: migrations/.#1_a.sql is a symbolic link to a missing file; skipped. Fix or remove the link\n\
             warning: migrations/loop is a symbolic link to one of its own parent directories; skipped to avoid \
             an endless loop. Remove the link if it is not needed"
        );
    }

    fn check_expand(files: &[&str], arguments: &[&str], expected: &str) {
        let dir = tree(files);
        let paths: Vec<PathBuf> = arguments
            .iter()
            .map(|argument| dir.path().join(argument))
            .collect();
        assert_eq!(render(dir.path(), expand_paths(&paths)), expected.trim());
    }

    #[test]
    fn expand_files_and_directories() {
        check_expand(
            &[
                "notes.sql",
                "m/2_b.sql",
                "m/sub/1_a.SQL",
                "m/skip.sql",
                "m/readme.md",
                "m/3_c_dml.sql",
                "z.sql",
            ],
            &["z.sql", "m", "notes.sql", "m/2_b.sql"],
            "<tmp>/m/sub/1_a.SQL@1 DDL\n<tmp>/m/2_b.sql@2 DDL\n<tmp>/m/3_c_dml.sql@3 DML\n\
             <tmp>/z.sql@- DDL\n<tmp>/notes.sql@- DDL\n\
             warning: <tmp>/m/skip.sql has no version prefix; skipped. Rename it to e.g. 202501011200_skip.sql",
        );
    }

    #[test]
    fn expand_errors_and_empty_directories() {
        check_expand(
            &["m/1_a.sql"],
            &["m/1_a.sql", "missing.sql"],
            "error: <tmp>/missing.sql does not exist; check the path (it is relative to the current directory)",
        );
        check_expand(
            &["a/1_x.sql", "b/01_y.sql"],
            &["a", "b"],
            "error: two migrations have version 1: <tmp>/a/1_x.sql and <tmp>/b/01_y.sql; \
             rename one so every version is unique",
        );
        check_expand(
            &["docs/readme.md"],
            &["docs"],
            "warning: <tmp>/docs contains no .sql files; nothing to review there. Check the path",
        );
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(
            literal_prefix("migrations/**/*.sql"),
            Path::new("migrations")
        );
        assert_eq!(literal_prefix("db/pg/*.sql"), Path::new("db/pg"));
        assert_eq!(literal_prefix("*.sql"), Path::new(""));
        assert_eq!(literal_prefix("db/{a,b}/x/*.sql"), Path::new("db"));
        assert_eq!(literal_prefix("/abs/m/*.sql"), Path::new("/abs/m"));
        assert_eq!(literal_prefix("db/1_a.sql"), Path::new("db"));
    }
}
