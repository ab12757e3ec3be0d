from sqlmodel import SQLModel

from kit import consumer, outbox  # noqa: F401  (the kit tables this service uses)
from kit.migrations import run_env
from subsidy import models  # noqa: F401  (registers the tables)

run_env(SQLModel.metadata)
