"""The exactness experiment on images (``python -m cep_lightning.images``): CEP, MSE and E-MSE guidance of a
diffusion model of images, measured against the exact target p ∝ q exp(beta e), over seeds. A client of the public
layers below (run, stages, data, config), beside the 2-D toys."""
