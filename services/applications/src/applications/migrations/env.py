from sqlmodel import SQLModel

from applications import models  # noqa: F401  (registers the tables)
from kit.migrations import run_env

run_env(SQLModel.metadata)
