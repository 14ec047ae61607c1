# JupyterHub configuration of the service tests: the embedded stack's, with a second course and its teacher.
from npuhub.auth.demo import DemoAuthenticator
from npuhub.embedded.hub import configure


class ServiceTestAuthenticator(DemoAuthenticator):
    """The demo accounts plus course-ai (teacher2, aistudent1): a teacher of another group for the matrix."""

    @property
    def accounts(self):
        accounts = dict(super().accounts)
        accounts["teacher2"] = ["course-ai", "teachers"]
        accounts["aistudent1"] = ["course-ai"]
        return accounts


configure(c)  # noqa: F821 (c is given by JupyterHub)
c.JupyterHub.authenticator_class = ServiceTestAuthenticator  # noqa: F821
