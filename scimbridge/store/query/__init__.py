"""SCIM filters, JSON paths and ``sortBy`` translated to SQL for the directory.

Does: parse and bound a SCIM filter (``filters.parse_filter``), bind it to a resource model and
turn it into a WHERE clause over the users or groups table (``filters``, ``filter_sql``,
``filter_columns``, ``filter_names``), read JSON documents on either engine (``json_sql``,
``json_engines``), and turn ``sortBy`` into an ORDER BY expression (``sort_keys``).
Does not: run statements (``store.directory`` does), or know HTTP.
"""
