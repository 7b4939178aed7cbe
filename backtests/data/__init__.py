"""Databento OPRA data layer: download (``databento_client``), DBN → Parquet import
(``dbn_import``), synthetic DBN files from the simulated market (``dbn_generate``) and the
Parquet/DuckDB store the replay engine reads (``store``). Shared DBN reading/writing helpers live
in ``dbn_io``. Facts used throughout: ``shared/reference/databento.md``.
"""
