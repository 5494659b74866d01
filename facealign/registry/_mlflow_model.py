"""MLflow "models from code" entry point of the facealign registry model.

MLflow executes this file when it loads a logged model (a copy travels with every model);
it is never imported by facealign itself.  Declaring the model here instead of pickling an
instance means that loading a registry model unpickles nothing.
"""

import mlflow.models

from facealign.registry.pyfunc import FaceAlignmentModel

mlflow.models.set_model(FaceAlignmentModel())
