"""Entities of the c360 feature repo."""

from feast import Entity
from feast.value_type import ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A resolved customer: the stable customer_id from identity resolution.",
)

product = Entity(
    name="product",
    join_keys=["product_id"],
    value_type=ValueType.STRING,
    description="A catalogue product (facts/products), as transaction lines name it.",
)
