"""The paper's 2-D toys: CEP, MSE and E-MSE guidance measured against the exact target."""
