"""The Streamlit trace viewer."""
