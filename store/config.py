"""Where the data lives."""

from pydantic import BaseModel, ConfigDict, Field


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="sqlite:///newswatch.db", description="SQLAlchemy database URL")
    keep_days: int = Field(
        default=90, ge=1, le=36500, description="articles older than this are pruned"
    )  # at most 100 years: the cutoff stays a date
