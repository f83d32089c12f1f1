"""The paper's 2-D toys (``python -m cep_lightning.toys``): CEP, MSE and E-MSE guidance measured against the
exact target, over seeds. A client of the public layers below (run, stages, data, config)."""
