from sqlmodel import SQLModel

from kit.migrations import run_env
from credit_rating import models  # noqa: F401  (registers the tables)

run_env(SQLModel.metadata)
