"""Running at scale: the partial-result protocol and the runners that drive it
(local customer shards now; out-of-core shards and Dask partitions next)."""
