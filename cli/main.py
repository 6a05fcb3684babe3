def run(): print("hi")
