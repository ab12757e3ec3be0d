"""Applications service: 建档立卡 registry, lending policy, loan applications and their approval chain,
loans, repayments, the business date and the loan event log."""
