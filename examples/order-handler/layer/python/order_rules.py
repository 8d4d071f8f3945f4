"""Validation rules of an order, shared through a Lambda layer (its python/ folder is on sys.path)."""

from __future__ import annotations


class InvalidOrder(ValueError):
    """An order that cannot be accepted; the message names the field at fault."""


def validate(order: dict, max_quantity: int) -> dict:
    """The order, normalised, if it is valid; raises InvalidOrder naming the first field at fault.

    An order is {"order_id": str, "sku": str, "quantity": int}, with quantity in 1..max_quantity.
    """
    if not isinstance(order, dict):
        raise InvalidOrder(f"an order must be a JSON object, got {type(order).__name__}")
    normalised: dict = {}
    for field in ("order_id", "sku"):
        value = order.get(field)
        if not isinstance(value, str) or not value.strip():
            raise InvalidOrder(f"{field} is missing or empty (got {value!r})")
        normalised[field] = value.strip()
    quantity = order.get("quantity")
    # bool is a subclass of int: True is not a quantity.
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidOrder(f"quantity must be an integer (got {quantity!r})")
    if not 1 <= quantity <= max_quantity:
        raise InvalidOrder(f"quantity must be between 1 and {max_quantity} (got {quantity})")
    normalised["quantity"] = quantity
    return normalised
