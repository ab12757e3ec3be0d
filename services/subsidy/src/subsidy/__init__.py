"""Subsidy service: Interest subsidy (贴息) plans and budgets, per-loan subsidy accounts, yearly settlement, payouts, registers and notices."""
