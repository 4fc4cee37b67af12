print("opscore")
