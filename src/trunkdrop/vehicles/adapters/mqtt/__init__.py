"""The car link over MQTT 5: the platform's adapter and report source (`adapter`), the
simulated fleet that runs as its own process (`fleet`, `trunkdrop cars`), the topic layout
(`topics`) and the versioned messages (`schemas`). docs/car-link.md describes it.

paho-mqtt is imported only from here, and this package only when `car_link` is "mqtt".
"""
