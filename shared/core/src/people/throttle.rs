use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How many failed logins are allowed in a window, per account and per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub per_account: u32,
    pub per_address: u32,
    pub window: TimeDelta,
}

impl Default for ThrottlePolicy {
    /// 5 wrong passwords for one account, 20 from one address, per 15 minutes.
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: TimeDelta::minutes(15),
        }
    }
}

/// Failed logins counted for one key (an account or an address) in a fixed window.
/// Kept in the store: the API runs on stateless Lambdas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFailures {
    /// `account:{sha256 of the e-mail}` or `address:{ip}`.
    pub key: String,
    pub window_start: DateTime<Utc>,
    pub count: u32,
    /// When the window ends and the count stops mattering: the store forgets the record
    /// then (its TTL).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

impl LoginFailures {
    pub fn account_key(email: &str) -> String {
        format!("account:{}", super::secret_hash(email))
    }

    pub fn address_key(address: &str) -> String {
        format!("address:{}", address.chars().take(64).collect::<String>())
    }

    pub fn new(key: String, now: DateTime<Utc>) -> Self {
        Self {
            key,
            window_start: now,
            count: 0,
            expires_at: None,
            version: 0,
        }
    }

    /// How long until another try is allowed, when `limit` failures are used up.
    pub fn blocked_for(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        window: TimeDelta,
    ) -> Option<TimeDelta> {
        let ends = self.window_start + window;
        (self.count >= limit && now < ends).then(|| ends - now)
    }

    /// Counts one more failure at `now`, in a fresh window when the last one is over.
    pub fn record(&mut self, now: DateTime<Utc>, window: TimeDelta) {
        if now >= self.window_start + window {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.expires_at = Some(self.window_start + window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_until_their_window_ends() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let window = TimeDelta::minutes(15);
        let mut f = LoginFailures::new(LoginFailures::address_key("192.0.2.1"), t0);
        for _ in 0..3 {
            assert_eq!(f.blocked_for(t0, 3, window), None);
            f.record(t0, window);
        }
        assert_eq!(
            f.blocked_for(t0 + TimeDelta::minutes(5), 3, window),
            Some(TimeDelta::minutes(10))
        );
        assert_eq!(f.blocked_for(t0 + window, 3, window), None);
        f.record(t0 + window, window);
        assert_eq!(f.count, 1);
    }
}
