"""Lightning callbacks of cep_lightning, switched on from the ``callbacks`` config group; extend them freely."""
