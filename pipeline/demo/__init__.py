"""The bundled demo news site: three outlets on loopback serving a three-week story."""
