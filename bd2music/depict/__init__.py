"""Sound -> comic page (``bd2music depict``, the app's "Sound to page" tab): see ``bd2music.depict.pipeline``."""

from bd2music.depict.mapping import DepictConfig, PageTargets
from bd2music.depict.pipeline import DepictPipeline, Depiction

__all__ = ["DepictConfig", "DepictPipeline", "Depiction", "PageTargets"]
