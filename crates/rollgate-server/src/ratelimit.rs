//! Login throttling: failures are counted per account and per client address
//! in a sliding window, in memory. Each replica counts on its own, so with N
//! replicas an attacker gets at most N times the budget; acceptable for
//! argon2-hashed passwords and 256-bit service account keys.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub(crate) const WINDOW_SECONDS: i64 = 60;
/// Failures per account per window before logins to it are refused.
pub(crate) const MAX_FAILURES_PER_ACCOUNT: usize = 5;
/// Failures per address per window; higher because addresses are shared (NAT).
pub(crate) const MAX_FAILURES_PER_ADDRESS: usize = 20;
/// Bounds memory under a spray of distinct emails.
const MAX_TRACKED_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginLimiter {
    /// `Some(seconds to wait)` when the account or address is over its budget.
    pub(crate) fn check(&self, account: &str, addr: Option<IpAddr>, now: i64) -> Option<i64> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None;
        for (key, max) in keys(account, addr) {
            if let Some(times) = failures.get_mut(&key) {
                times.retain(|&t| now - t < WINDOW_SECONDS);
                if times.len() >= max {
                    let oldest = times.iter().min().copied().unwrap_or(now);
                    let retry = (oldest + WINDOW_SECONDS - now).max(1);
                    wait = Some(wait.map_or(retry, |w: i64| w.max(retry)));
                }
            }
        }
        wait
    }

    pub(crate) fn record_failure(&self, account: &str, addr: Option<IpAddr>, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED_KEYS {
            failures.retain(|_, times| times.iter().any(|&t| now - t < WINDOW_SECONDS));
        }
        for (key, _) in keys(account, addr) {
            failures.entry(key).or_default().push(now);
        }
    }

    pub(crate) fn record_success(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    format!("account:{}", account.to_lowercase())
}

fn keys(account: &str, addr: Option<IpAddr>) -> Vec<(String, usize)> {
    let mut keys = vec![(account_key(account), MAX_FAILURES_PER_ACCOUNT)];
    if let Some(addr) = addr {
        keys.push((format!("address:{addr}"), MAX_FAILURES_PER_ADDRESS));
    }
    keys
}
