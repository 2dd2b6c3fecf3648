"""The student's pyfunc, logged as MLflow "model from code": MLflow stores this file with the model
and runs it at load time, instead of unpickling a Python object."""

from mlflow.models import set_model

from cosmo.lm.student import StudentPyfunc

set_model(StudentPyfunc())
