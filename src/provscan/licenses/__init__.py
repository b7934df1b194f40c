"""licenses"""
