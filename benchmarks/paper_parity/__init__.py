"""The paper's code (ChenDRAG/CEP-energy-guided-diffusion, ``Offline_RL_2D``) side by side with cep_lightning.

    PYTHONPATH=$PWD python -m benchmarks.paper_parity --paper /tmp/CEP --data hopper-medium-replay.hdf5 --mode steps

``shims``: stand-ins for the packages its code imports that cannot be installed here (d4rl, old gym; scipy and
scikit-learn where absent); ``weights``: the mapping between its parameter names and ours; ``steps``: both codes
take the same steps from the same weights on the same batches and random draws; ``scores`` (``--mode scores``):
both trained end to end at one budget and evaluated the same way, seed by seed; ``__main__``: the command line.
The paper's code is imported from the checkout named on the command line, never copied into this repository.
"""
