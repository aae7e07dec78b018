"""Where the data lives."""

from pydantic import BaseModel, ConfigDict, Field


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="sqlite:///newswatch.db", description="SQLAlchemy database URL")
    keep_days: int = Field(default=90, ge=1, description="articles older than this are pruned")
