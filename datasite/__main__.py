from datasite.cli import app

app(prog_name="datasite")
