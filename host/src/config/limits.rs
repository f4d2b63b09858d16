//! Validation of a `[[filter]]`'s limits: the per-call budgets (edits, header bytes and header
//! fields per hook call, the size of a local response: `runtime::PluginLimits`) and the
//! circuit breaker (`filters::BreakerSettings`).

use std::time::Duration;

use toml::Spanned;

use super::{ConfigError, Validator, file};
use crate::filters::BreakerSettings;
use crate::runtime::PluginLimits;

/// Highest `max_header_count`: an `http::HeaderMap` holds at most 24576 distinct names, and
/// weir adds its own fields (`Host`, `X-Forwarded-*`, `Via`) after the chain, so the limit
/// keeps every map far from that ceiling.
pub(crate) const MAX_HEADER_COUNT: u64 = 8192;
/// Highest `max_edits_per_call`.
pub(crate) const MAX_EDITS: u64 = 1 << 20;
/// Highest `max_header_bytes_per_call`.
pub(crate) const MAX_HEADER_BYTES: u64 = 16 << 20;
/// Highest `max_local_response_body_bytes`.
pub(crate) const MAX_LOCAL_BODY: u64 = 256 << 20;
/// Highest breaker back-off: one hour.
const MAX_BACKOFF_MS: u64 = 3_600_000;

impl Validator<'_> {
    pub(super) fn plugin_limits(
        &self,
        i: usize,
        raw: &file::Filter,
    ) -> Result<PluginLimits, ConfigError> {
        let key = |k: &str| format!("filter[{i}].{k}");
        let edits = self.within(
            &raw.max_edits_per_call,
            key("max_edits_per_call"),
            MAX_EDITS,
        )?;
        let header_bytes = self.within(
            &raw.max_header_bytes_per_call,
            key("max_header_bytes_per_call"),
            MAX_HEADER_BYTES,
        )?;
        let header_count = self.within(
            &raw.max_header_count,
            key("max_header_count"),
            MAX_HEADER_COUNT,
        )?;
        let body = self.within(
            &raw.max_local_response_body_bytes,
            key("max_local_response_body_bytes"),
            MAX_LOCAL_BODY,
        )?;
        // Every maximum fits a u32, so these conversions cannot fail.
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(PluginLimits {
            max_edits_per_call: u32::try_from(edits).unwrap_or(u32::MAX),
            max_header_bytes_per_call: size(header_bytes),
            max_header_count: size(header_count),
            max_local_response_body_bytes: size(body),
        })
    }

    pub(super) fn breaker(
        &self,
        i: usize,
        raw: &file::Filter,
    ) -> Result<BreakerSettings, ConfigError> {
        let key = |k: &str| format!("filter[{i}].{k}");
        let backoff = self.within(
            &raw.breaker_backoff_ms,
            key("breaker_backoff_ms"),
            MAX_BACKOFF_MS,
        )?;
        let max_backoff = self.within(
            &raw.breaker_max_backoff_ms,
            key("breaker_max_backoff_ms"),
            MAX_BACKOFF_MS,
        )?;
        if max_backoff < backoff {
            return self.invalid(
                raw.breaker_max_backoff_ms.span(),
                key("breaker_max_backoff_ms"),
                format!("must be at least breaker_backoff_ms ({backoff})"),
            );
        }
        Ok(BreakerSettings {
            after_faults: raw.breaker_after_faults,
            backoff: Duration::from_millis(backoff),
            max_backoff: Duration::from_millis(max_backoff),
        })
    }

    /// Checks that a limit is between 1 and `max`.
    fn within(&self, value: &Spanned<u64>, key: String, max: u64) -> Result<u64, ConfigError> {
        let v = *value.get_ref();
        if (1..=max).contains(&v) {
            Ok(v)
        } else {
            self.invalid(value.span(), key, format!("must be 1 to {max}"))
        }
    }
}
