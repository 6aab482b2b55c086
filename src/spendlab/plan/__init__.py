"""Planning: response curves, budget optimizer, scenarios and the daily allocator."""
