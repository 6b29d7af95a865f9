print("meshrelay")
