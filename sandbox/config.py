"""The sandbox's run-time configuration, read from the environment once per process."""

import hashlib
import os
from dataclasses import dataclass
from functools import cache

TRUE_VALUES = {"1", "true", "yes", "on"}


def _env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip().lower() in TRUE_VALUES


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else float(raw)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else int(raw)


@dataclass(frozen=True)
class SandboxConfig:
    # Which acquirer this sandbox plays ("sandbox", "sandbox_eu"…): shown by /healthz.
    name: str
    # The currencies it charges in (empty: every one); a charge in another is 400 currency_not_supported.
    currencies: frozenset[str]
    api_key: str
    webhook_url: str
    webhook_secret: str
    webhook_timeout_seconds: float
    dispatcher_poll_seconds: float
    # Fault defaults for the run; POST /v1/control/faults changes them while it runs.
    latency_ms: int
    error_rate: float
    seed: int
    duplicate_webhooks: bool
    shuffle_webhooks: bool
    timeout_delay_seconds: float
    refund_delay_seconds: float
    dispute_delay_seconds: float
    dispute_decision_seconds: float
    bank_settlement_seconds: float
    bank_return_seconds: float
    wallet_expiry_seconds: float
    fx_drift_bps: int
    payout_seconds: float
    # How long a new dispute gives the merchant to answer before it is lost.
    dispute_evidence_seconds: int
    # The processor's own fees, as its settlement report deducts them (not the platform's fees to merchants).
    fee_bps: int
    fee_fixed: int
    dispute_fee: int
    # The base of the URLs the sandbox gives out for people to visit (a wallet's approval page); when empty,
    # the base the API client used to reach it.
    public_url: str
    # The key of bank account fingerprints: fixed by default, so a fingerprint outlives a restart.
    fingerprint_key: str

    @property
    def key_scope(self) -> str:
        """Idempotency keys are scoped per API key; the key itself is never stored."""
        return hashlib.sha256(self.api_key.encode()).hexdigest()[:32]


@cache
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        name=os.environ.get("SANDBOX_NAME") or "sandbox",
        currencies=frozenset(
            code.strip().upper() for code in (os.environ.get("SANDBOX_CURRENCIES") or "").split(",") if code.strip()
        ),
        api_key=os.environ.get("SANDBOX_API_KEY") or "sk_sandbox_development",
        webhook_url=os.environ.get("SANDBOX_WEBHOOK_URL") or "http://127.0.0.1:8000/webhooks/processor/sandbox/",
        webhook_secret=os.environ.get("SANDBOX_WEBHOOK_SECRET") or "whsec_sandbox_development_only",
        webhook_timeout_seconds=_env_float("SANDBOX_WEBHOOK_TIMEOUT_SECONDS", 5.0),
        dispatcher_poll_seconds=_env_float("SANDBOX_DISPATCHER_POLL_SECONDS", 0.2),
        latency_ms=_env_int("SANDBOX_LATENCY_MS", 0),
        error_rate=_env_float("SANDBOX_ERROR_RATE", 0.0),
        seed=_env_int("SANDBOX_SEED", 0),
        duplicate_webhooks=_env_bool("SANDBOX_DUPLICATE_WEBHOOKS"),
        shuffle_webhooks=_env_bool("SANDBOX_SHUFFLE_WEBHOOKS"),
        timeout_delay_seconds=_env_float("SANDBOX_TIMEOUT_DELAY_SECONDS", 10.0),
        refund_delay_seconds=_env_float("SANDBOX_REFUND_DELAY_SECONDS", 0.0),
        dispute_delay_seconds=_env_float("SANDBOX_DISPUTE_DELAY_SECONDS", 2.0),
        dispute_decision_seconds=_env_float("SANDBOX_DISPUTE_DECISION_SECONDS", 3.0),
        bank_settlement_seconds=_env_float("SANDBOX_BANK_SETTLEMENT_SECONDS", 5.0),
        bank_return_seconds=_env_float("SANDBOX_BANK_RETURN_SECONDS", 3.0),
        wallet_expiry_seconds=_env_float("SANDBOX_WALLET_EXPIRY_SECONDS", 900.0),
        fx_drift_bps=_env_int("SANDBOX_FX_DRIFT_BPS", 0),
        payout_seconds=_env_float("SANDBOX_PAYOUT_SECONDS", 5.0),
        dispute_evidence_seconds=_env_int("SANDBOX_DISPUTE_EVIDENCE_SECONDS", 7 * 24 * 3600),
        fee_bps=_env_int("SANDBOX_FEE_BPS", 250),
        fee_fixed=_env_int("SANDBOX_FEE_FIXED", 25),
        dispute_fee=_env_int("SANDBOX_DISPUTE_FEE", 1500),
        public_url=(os.environ.get("SANDBOX_PUBLIC_URL") or "").strip().rstrip("/"),
        fingerprint_key=os.environ.get("SANDBOX_FINGERPRINT_KEY") or "sandbox_fingerprint_development_only",
    )
