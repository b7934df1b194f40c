"""String and binary views, which pyarrow can read and write but not take from or filter.

pyarrow 26 has no ``array_take``/``array_filter`` kernel for ``string_view`` or ``binary_view``
(issue 22: a ``string_view`` URL column failed the export, and ``provscan sample`` on it); the same
rows as ``large_string``/``large_binary`` take and filter, and cast back exactly.
"""

from __future__ import annotations

import pyarrow as pa

_LARGE = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}


def takeable_type(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with views, at any depth (lists, structs, maps), as their large types."""
    if dtype in _LARGE:
        return _LARGE[dtype]
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype):
        value = takeable_type(dtype.value_type)
        if value == dtype.value_type:
            return dtype
        field = dtype.value_field.with_type(value)
        if pa.types.is_fixed_size_list(dtype):
            return pa.list_(field, dtype.list_size)
        return pa.large_list(field) if pa.types.is_large_list(dtype) else pa.list_(field)
    if pa.types.is_struct(dtype):
        fields = [dtype.field(i) for i in range(dtype.num_fields)]
        new = [f.with_type(takeable_type(f.type)) for f in fields]
        return pa.struct(new) if new != fields else dtype
    if pa.types.is_map(dtype):
        key, item = takeable_type(dtype.key_type), takeable_type(dtype.item_type)
        return pa.map_(key, item) if (key, item) != (dtype.key_type, dtype.item_type) else dtype
    return dtype


def takeable_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(takeable_type(f.type)) for f in schema], metadata=schema.metadata)


def takeable(table: pa.Table) -> pa.Table:
    """``table`` with its view columns as large types (a no-op without views)."""
    schema = takeable_schema(table.schema)
    return table if schema == table.schema else table.cast(schema)
