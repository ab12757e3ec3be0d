from gateway import models  # noqa: F401  (registers the tables)
from kit.migrations import run_env
from sqlmodel import SQLModel

run_env(SQLModel.metadata)
