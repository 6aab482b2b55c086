"""The base of every REST request body: unknown fields are refused, never ignored.

A body with a misspelt field (``"fsat": true``) used to start a full model fit with the field's
default; now it is a 422 whose issue names the field, where it is, and the accepted ones:

    {"location": "body.operations.0.frm", "problem": "unknown field 'frm'; accepted: channel,
     from, op, pct, to, value", ...}

Response models stay plain ``BaseModel``s (they ignore extras); only request bodies derive from
``Body``. ``extra="forbid"`` also puts ``additionalProperties: false`` in the OpenAPI schema, so
clients generated from it see the rule too.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

# a stored row's id: the stores' integer columns are 64-bit, so a larger number is a 422, not
# an OverflowError (a 500) in the database driver
RowId = Annotated[int, Field(ge=1, le=2**62)]


class Body(BaseModel):
    """A request body: every field it accepts is declared; anything else is a 422."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic's own "should be an object" error follows
        accepted = accepted_fields(cls)
        by_name = cls.model_config.get("populate_by_name") or cls.model_config.get(
            "validate_by_name"
        )
        known = accepted | (set(cls.model_fields) if by_name else set())
        unknown = [k for k in data if k not in known]
        if not unknown:
            return data
        listed = ", ".join(sorted(accepted))
        raise ValidationError.from_exception_data(
            cls.__name__,
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "extra_forbidden",
                        "unknown field '{field}'; accepted: {accepted}",
                        {"field": str(key), "accepted": listed},
                    ),
                    loc=(str(key),),
                    input=data[key],
                )
                for key in unknown
            ],
        )


def accepted_fields(model: type[BaseModel]) -> set[str]:
    """The keys a body of ``model`` accepts (aliases where a field has one)."""
    keys = set()
    for name, f in model.model_fields.items():
        alias = f.validation_alias if isinstance(f.validation_alias, str) else f.alias
        keys.add(alias or name)
    return keys
