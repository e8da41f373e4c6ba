"""Base of every request body: unknown fields are an error, not silently ignored."""

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """A request body. A misspelt field gets a 422 naming it instead of being dropped."""

    model_config = ConfigDict(extra="forbid")
