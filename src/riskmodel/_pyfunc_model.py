"""The MLflow pyfunc model of riskmodel, logged *from code*.

MLflow copies this file into the logged model and runs it when the model is
loaded; ``mlflow.models.set_model`` names the model object. Its only artifact
is a folder saved by :meth:`riskmodel.RiskModel.save` (LightGBM text model plus
JSON), loaded with :meth:`riskmodel.RiskModel.load`: nothing is pickled.

The model is row-local: each input row is one pupil's features, and output row
``i`` (risk and the top reasons in Latvian and English) depends on input row
``i`` only, so ``mlflow.pyfunc.spark_udf`` can score it in any batches.
"""

# no ``from __future__ import annotations``: MLflow reads the type hints of ``predict``
# at runtime and would see strings.
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class RiskModelPyfunc(PythonModel):
    """Risk and top reasons for each row of pupil features."""

    def load_context(self, context):
        from riskmodel.model import RiskModel

        self.model = RiskModel.load(context.artifacts["riskmodel"])
        config = context.model_config or {}
        # "reasons_k" is the key of models logged before riskmodel 0.2
        self.n_reasons = int(config.get("n_reasons", config.get("reasons_k", 3)))

    def predict(self, context, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        from riskmodel.pyfunc import predict_rows

        # inference parameters of the signature (riskmodel.spark.score sets them)
        params = params or {}
        domains = bool(params.get("domain_contributions", False))
        n = int(params.get("num_threads") or 0)
        if n <= 0:
            return predict_rows(self.model, model_input, n_reasons=self.n_reasons,
                                domain_contributions=domains)
        import numba
        from threadpoolctl import threadpool_limits

        previous = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        try:
            with threadpool_limits(limits=n):  # LightGBM's OpenMP threads
                return predict_rows(self.model, model_input, n_reasons=self.n_reasons,
                                    domain_contributions=domains)
        finally:
            numba.set_num_threads(previous)


set_model(RiskModelPyfunc())
