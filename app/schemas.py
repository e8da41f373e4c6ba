"""Base of every request body: unknown fields are an error, not silently ignored; NUL characters are refused."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from app import year_groups


def _nul_at(data: Any) -> str | None:
    """The path of the first string (value or key) in ``data`` holding a NUL character, if any.

    Iterative, so a deeply nested body cannot exhaust the stack before the fields' own limits refuse it.
    """
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return where
                stack.append((item, where))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(value))
    return None


class Body(BaseModel):
    """A request body. A misspelt field gets a 422 naming it instead of being dropped.

    Text with a NUL character (``\\u0000``) is a 422 too: PostgreSQL cannot store it in a text column.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if (where := _nul_at(data)) is not None:
            raise ValueError(f"text may not contain the NUL character (\\u0000), at {where}")
        return data


def _year_group(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a year group is a string such as 'Year 7', '7', 'Reception', 'R' or 'N1'")
    parsed = year_groups.parse(value)
    if parsed is None:
        raise ValueError("not a year group (use e.g. 'Reception', 'Year 7', 'N1', 'R', '7')")
    return parsed


#: A year group in any accepted spelling (or a number), stored and shown canonically ("Year 7").
YearGroup = Annotated[str | None, BeforeValidator(_year_group)]
