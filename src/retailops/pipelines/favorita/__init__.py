"""The ``favorita`` pipeline: the Kaggle Favorita download, checked, profiled, cleaned, reported.

Run it on its own (it is not part of the default run):
``kedro run --pipelines favorita --params favorita.data_dir=PATH``.
"""

from retailops.pipelines.favorita.pipeline import create_pipeline

__all__ = ["create_pipeline"]
