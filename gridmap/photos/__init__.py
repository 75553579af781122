"""Photos (随手拍): uploads checked and re-encoded (:mod:`.images`), kept durably in
the data folder (:mod:`.files`). Which photos a case has, and who may see them,
is case data: :mod:`gridmap.cases.photos`. No Flask here."""

from gridmap.photos.files import PhotoRef, PhotoStore
from gridmap.photos.images import (BadPhoto, DamagedPhoto, NotAnImage, PhotoTooLarge,
                                   PhotoTooManyPixels, ProcessedPhoto, UnsupportedPhotoType,
                                   process)

__all__ = ["BadPhoto", "DamagedPhoto", "NotAnImage", "PhotoRef", "PhotoStore", "PhotoTooLarge",
           "PhotoTooManyPixels", "ProcessedPhoto", "UnsupportedPhotoType", "process"]
