"""Domain-free infrastructure shared by the gateway and every service.

Nothing here knows about loans, households or subsidies: business rules live in the services.
"""
