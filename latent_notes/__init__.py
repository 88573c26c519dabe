"""latent_notes: tested implementations of the models in the latent-notes book.

Every chapter of the book imports its algorithms from here; every public
function cites the chapter equation it implements.
"""

from .em import ConvergenceWarning
from .gmlc import GaussianMixtureLinearClassifier
from .mixture import GaussianMixture

__version__ = "0.1.0"

# The deep models (latent_notes.vae, .vq, .vqvae, .training) import torch and are
# imported from their modules, so that `import latent_notes` stays light.
__all__ = ["ConvergenceWarning", "GaussianMixture", "GaussianMixtureLinearClassifier", "__version__"]
