"""vLLM's multimodal processor cache, as memory: each distinct item's processed tensors kept until the cache
holds --mm-processor-cache-gb, then the least recently used go (vLLM 0.11-0.33 `MultiModalCache`, an LRU
sized by the items' bytes; the default is 4 GiB). The bytes are written, so they are resident: the memory soak
sees what it would see on vLLM, growth until the cache is full and none after. A part's `uuid` is the item's key in
place of its content hash (vLLM 0.11-0.34), so a later part naming only that uuid is served from here.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class ProcessorCache:
    def __init__(self, capacity_gb: float) -> None:
        self.capacity = int(capacity_gb * 1024**3)
        self._items: OrderedDict[str, tuple[bytearray, Any]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def add(self, key: str, size: int, item: Any = None) -> bool:
        """An item seen: a hit refreshes it; a miss keeps `size` bytes and evicts the oldest beyond capacity.
        True for a miss: the encoder processes the item."""
        if size > self.capacity:
            return True  # vLLM does not cache an item larger than the whole cache
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return False
            self._items[key] = (bytearray(b"\x01") * size, item)
            self._size += size
            while self._size > self.capacity:
                _, (evicted, _) = self._items.popitem(last=False)
                self._size -= len(evicted)
            return True

    def get(self, key: str) -> Any:
        """The item kept under `key` (a hit refreshes it), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][1]
