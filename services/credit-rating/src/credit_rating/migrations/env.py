from sqlmodel import SQLModel

from credit_rating import models  # noqa: F401  (registers the tables)
from kit import consumer  # noqa: F401  (registers kit's consumer_cursors, migration 0003)
from kit.migrations import run_env

run_env(SQLModel.metadata)
