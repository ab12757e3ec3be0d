"""Risk-pool service: Risk-compensation funds (风险补偿金) and their ledger, loss-sharing schemes, claims, recoveries and circuit breakers (熔断)."""
