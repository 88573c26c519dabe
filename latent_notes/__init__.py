"""latent_notes: tested implementations of the models in the latent-notes book.

Every chapter of the book imports its algorithms from here; every public
function cites the chapter equation it implements.
"""

from .em import ConvergenceWarning
from .mixture import GaussianMixture

__version__ = "0.1.0"

__all__ = ["ConvergenceWarning", "GaussianMixture", "__version__"]
