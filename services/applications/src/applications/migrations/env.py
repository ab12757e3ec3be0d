from sqlmodel import SQLModel

from applications import models  # noqa: F401  (registers the tables)
from kit.migrations import run_env
from kit.outbox import OutboxMessage  # noqa: F401  (the kit table this service uses)

run_env(SQLModel.metadata)
