'''The storage contract's test suite, shipped so that any storage backend can run it.

`StorageContract` holds one test per guarantee of `popbt.storage.Storage` (claims, leases,
reports, decisions, failures and re-seeds, garbage collection, isolation of populations,
growing and shrinking, warm starts, stops, reading what is new, and the league's entries,
matches and ratings). A
backend author subclasses it in a pytest test module and provides a `storage_factory`
fixture: a callable that opens a new handle on one fresh, empty storage each time it is
called (several handles on the same storage play several processes). The suite closes every
handle it opens. For example:

    import pytest
    from popbt.testing import StorageContract
    from mybackend import MyStorage

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage_factory(self, tmp_path):
            return lambda: MyStorage(f"mydb://{tmp_path / 'store'}")

Then run `pytest`. Importing this module imports pytest; `import popbt` does not.
'''

from __future__ import annotations

from popbt.testing._contract import StorageContract

__all__ = ["StorageContract"]
