//! Retrying retryable keyring errors (KMS throttling) with exponential backoff and full jitter.
//!
//! The crate has no async runtime: the caller supplies the sleep function
//! (e.g. `tokio::time::sleep`). The AWS SDK also retries throttling on its own (standard retry
//! mode); this layer is for bursts that outlast the SDK's attempts, e.g. a large `verify` run.

use std::future::Future;
use std::time::Duration;

use crate::context::EncryptionContext;
use crate::error::Result;
use crate::keyring::{GeneratedKey, Keyring, UnwrappedKey};

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first (1 = no retry).
    pub max_attempts: u32,
    /// Backoff ceiling for the first retry; doubles per attempt.
    pub base_delay: Duration,
    /// Upper bound of any single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 100 ms base, 5 s cap.
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The ceiling for the delay before retry number `retry` (0-based):
    /// `min(max_delay, base_delay × 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay.checked_mul(factor).unwrap_or(self.max_delay).min(self.max_delay)
    }

    /// A full-jitter delay: uniform in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error
/// ([`Error::is_retryable`](crate::Error::is_retryable) is false), or `policy.max_attempts` is
/// reached (the last error is returned). Sleeps with `sleep(delay)` between attempts.
pub async fn retry<T, Op, Fut, Sleep, SleepFut>(policy: &RetryPolicy, sleep: Sleep, mut op: Op) -> Result<T>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
    Sleep: Fn(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
{
    let mut attempt = 1u32;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < policy.max_attempts.max(1) => {
                sleep(policy.delay(attempt - 1)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A keyring that retries retryable errors of the keyring it wraps.
pub struct Retrying<K, S> {
    inner: K,
    policy: RetryPolicy,
    sleep: S,
}

impl<K: std::fmt::Debug, S> std::fmt::Debug for Retrying<K, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrying").field("inner", &self.inner).field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl<K, S> Retrying<K, S> {
    /// Wraps `inner`; `sleep` is the runtime's sleep (e.g. `tokio::time::sleep`).
    pub fn new(inner: K, policy: RetryPolicy, sleep: S) -> Self {
        Retrying { inner, policy, sleep }
    }

    /// The wrapped keyring.
    pub fn inner(&self) -> &K {
        &self.inner
    }
}

impl<K, S, F> Keyring for Retrying<K, S>
where
    K: Keyring,
    S: Fn(Duration) -> F + Send + Sync,
    F: Future<Output = ()> + Send,
{
    async fn generate_data_key(&self, key_id: &str, context: &EncryptionContext) -> Result<GeneratedKey> {
        retry(&self.policy, &self.sleep, || self.inner.generate_data_key(key_id, context)).await
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<UnwrappedKey> {
        retry(&self.policy, &self.sleep, || self.inner.decrypt_data_key(wrapped, context, expected_key_id)).await
    }

    fn wrap_algorithm(&self) -> &str {
        self.inner.wrap_algorithm()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::Mutex;

    #[test]
    fn ceiling_grows_and_caps() {
        let p =
            RetryPolicy { max_attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(400));
        assert_eq!(p.ceiling(10), Duration::from_secs(1));
        assert_eq!(p.ceiling(200), Duration::from_secs(1));
        for r in 0..20 {
            assert!(p.delay(r) <= p.ceiling(r));
        }
    }

    #[test]
    fn retries_only_retryable() {
        let slept = Mutex::new(Vec::new());
        let sleep = |d: Duration| {
            slept.lock().unwrap().push(d);
            async {}
        };
        let policy = RetryPolicy { max_attempts: 4, ..RetryPolicy::default() };
        let mut calls = 0;
        let r: Result<u32> = futures_lite_block_on(retry(&policy, sleep, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(Error::KmsThrottled { message: "slow down".into() })
                } else {
                    Ok(n)
                }
            }
        }));
        assert_eq!(r.unwrap(), 3);
        assert_eq!(slept.lock().unwrap().len(), 2);

        let mut calls = 0;
        let r: Result<u32> = futures_lite_block_on(retry(
            &policy,
            |_| async {},
            || {
                calls += 1;
                async { Err(Error::Authentication) }
            },
        ));
        assert!(r.is_err());
        assert_eq!(calls, 1);

        let mut calls = 0;
        let r: Result<u32> = futures_lite_block_on(retry(
            &policy,
            |_| async {},
            || {
                calls += 1;
                async {
                    Err(Error::Kms { code: "KMSInternalException".into(), message: String::new(), retryable: true })
                }
            },
        ));
        assert!(r.unwrap_err().is_retryable());
        assert_eq!(calls, 4);
    }

    /// Polls a future that never actually waits (our test futures are immediately ready).
    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }
}
