"""genrecls — the Streamlit entry point: page setup and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="genrecls — music genre, explained", page_icon="🎵", layout="wide")

pages = [
    st.Page("pages/explore.py", title="Explore", icon="🔍", url_path="explore", default=True),
]
st.navigation(pages).run()
